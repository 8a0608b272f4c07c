// The API key field: kept in this tab's sessionStorage (api.js), offered again when a call says 401.
import { getKey, setKey } from "./api.js";

const $ = (id) => document.getElementById(id);
const NOTES = {
  missing_api_key: "This server needs an API key: enter it here.",
  invalid_api_key: "The key was refused: check it and enter it again.",
};

function note(message, isError = false) {
  $("key-note").textContent = message;
  $("key-note").classList.toggle("error", isError);
}

// onChange runs after the key is set or forgotten: what the page listed may differ for the new key.
export function startKeyField(onChange) {
  $("api-key").value = getKey();
  if (getKey()) note("Using the key kept for this tab.");
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) {
      note("Enter the key first.", true);
      $("api-key").focus();
      return;
    }
    setKey(key);
    note("Key set for this tab.");
    onChange();
  });
  $("key-forget").addEventListener("click", () => {
    setKey("");
    $("api-key").value = "";
    note("Key forgotten.");
    onChange();
  });
  window.addEventListener("docsum:key-refused", (event) => {
    note(NOTES[event.detail.code] || `Refused: ${event.detail.message}`, true);
    $("api-key").focus();
  });
}
