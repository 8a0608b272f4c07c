// The page: paste text or drop a file, pick options, read the summary beside its source.
import { listModels, summarize } from "./api.js";
import { listJobsAgain, startJobs } from "./jobs.js";
import { startKeyField } from "./keys.js";
import { saveBlob } from "./save.js";
import { SourcePane, pagesLabel } from "./source.js";
import { groundingNote, renderSummary } from "./summary.js";

const $ = (id) => document.getElementById(id);
const source = new SourcePane($("source"), $("source-where"));
let last = null; // the last response, for copy and download
let running = null; // the AbortController of the summary being made

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

const kinds = new Map(); // model name -> kind, from GET /v1/models

// seq2seq models refuse a query (422 unsupported_option): say so before the request, not after.
function modelChanged() {
  const refuses = kinds.get($("model").value) === "seq2seq";
  $("query").disabled = refuses;
  $("query-hint").textContent = refuses
    ? "This model takes no query (seq2seq models do not)."
    : "Favour what the query is about (extractive and instruct models).";
}

async function loadModels() {
  try {
    const { models } = await listModels();
    for (const model of models) kinds.set(model.name, model.kind);
    for (const select of [$("model"), $("job-model")]) {
      select.replaceChildren(
        ...models.map((model) => {
          const option = new Option(`${model.name} (${model.kind})`, model.name, model.default, model.default);
          option.disabled = !model.available;
          if (model.reason) option.title = model.reason;
          return option;
        }),
      );
    }
    modelChanged();
  } catch (error) {
    setStatus(`Could not list the models: ${error.message}`, true);
  }
}

function chosenFile() {
  return $("file").files.length ? $("file").files[0] : null;
}

function options() {
  return {
    model: $("model").value,
    length: $("length").value,
    format: $("format").value,
    query: $("query").disabled ? "" : $("query").value.trim(),
    language: $("language").value.trim(), // sent only when set
  };
}

function onProgress(event) {
  $("progress-box").hidden = false;
  $("progress").max = event.chunks_total;
  $("progress").value = event.chunks_done;
  const round = event.round > 0 ? `, reduce round ${event.round}` : "";
  $("progress-label").textContent = `Part ${event.chunks_done} of ${event.chunks_total}${round}`;
  setStatus(`Summarizing: part ${event.chunks_done} of ${event.chunks_total}${round}…`);
}

function showChunks(response) {
  const chunks = response.chunks || [];
  $("chunks-box").hidden = chunks.length === 0;
  $("chunks").replaceChildren(
    ...chunks.map((chunk, index) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      const where = pagesLabel(chunk.pages);
      button.textContent = `Part ${index + 1}${where ? ` (${where})` : ""}: ${chunk.summary}`;
      button.addEventListener("click", () =>
        source.highlight([chunk], { scroll: true, label: `Part ${index + 1}` }),
      );
      item.append(button);
      return item;
    }),
  );
}

function showResult(response, text) {
  last = response;
  source.show(response.text ?? text);
  renderSummary($("summary"), response, (segment, index, scroll) =>
    source.highlight(segment.ranges, { scroll, label: `Sentence ${index + 1}` }),
  );
  $("grounding-note").textContent = groundingNote(response);
  $("grounding-note").hidden = !$("grounding-note").textContent;
  showChunks(response);
  const cut = response.truncated ? " The input was cut to fit the model." : "";
  setStatus(`Done: ${response.usage.input_tokens} tokens in, ${response.usage.output_tokens} out.${cut}`);
}

async function run(event) {
  event.preventDefault();
  const file = chosenFile();
  const text = $("text").value;
  if (!file && !text.trim()) {
    setStatus("Paste a document or choose a file first.", true);
    $("text").focus();
    return;
  }
  running = new AbortController();
  $("run").disabled = true;
  $("stop").hidden = false;
  $("progress-box").hidden = true;
  $("result").hidden = false;
  $("summary").textContent = "";
  source.show(file ? "" : text);
  setStatus(file ? `Reading ${file.name}…` : "Summarizing…");
  const onToken = (delta) => $("summary").append(delta);
  try {
    showResult(await summarize({ text, file, options: options(), onToken, onProgress, signal: running.signal }), text);
  } catch (error) {
    setStatus(error.name === "AbortError" ? "Stopped." : `Failed: ${error.message}`, error.name !== "AbortError");
  } finally {
    running = null;
    $("run").disabled = false;
    $("stop").hidden = true;
    $("progress-box").hidden = true;
  }
}

const download = (name, type, content) => saveBlob(name, new Blob([content], { type }));

async function copySummary() {
  if (!last) return;
  try {
    await navigator.clipboard.writeText(last.summary);
    setStatus("Summary copied.");
  } catch {
    setStatus("The browser refused the clipboard: select the summary and copy it.", true);
  }
}

function wireFile() {
  const drop = $("drop");
  const changed = () => {
    const file = chosenFile();
    $("file-clear").hidden = !file;
    $("text").disabled = Boolean(file);
    drop.classList.toggle("has-file", Boolean(file));
  };
  $("file").addEventListener("change", changed);
  $("file-clear").addEventListener("click", () => {
    $("file").value = "";
    changed();
    $("file").focus();
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) {
      $("file").files = event.dataTransfer.files;
      changed();
    }
  });
}

function showView() {
  const jobs = location.hash === "#jobs";
  $("view-summarize").hidden = jobs;
  $("view-jobs").hidden = !jobs;
  $("nav-summarize").toggleAttribute("aria-current", !jobs);
  $("nav-jobs").toggleAttribute("aria-current", jobs);
  if (jobs) $("nav-jobs").setAttribute("aria-current", "page");
  else $("nav-summarize").setAttribute("aria-current", "page");
}

$("summarize-form").addEventListener("submit", run);
$("model").addEventListener("change", modelChanged);
$("stop").addEventListener("click", () => running && running.abort());
$("copy").addEventListener("click", copySummary);
$("download-text").addEventListener("click", () => last && download("summary.txt", "text/plain", last.summary + "\n"));
$("download-json").addEventListener("click", () =>
  last && download("summary.json", "application/json", JSON.stringify(last, null, 2) + "\n"),
);
wireFile();
startKeyField(() => {
  loadModels();
  listJobsAgain();
});
window.addEventListener("hashchange", showView);
showView();
loadModels();
startJobs();
