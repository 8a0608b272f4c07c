// The summary pane: each sentence of the summary tied to where it comes from in the source.
//   extractive models: `sentences` (each copied from the source, with its offsets);
//   models that write: `grounding.sentences` (offsets in the summary, evidence `support` in the source,
//     `unsupported` names, numbers, dates and quotes the source lacks, offsets in the summary);
//   otherwise, a long document's `chunks` (where each part of the map step came from).
import { codePointIndex } from "./source.js";

const WEAK = 0.5; // a sentence less supported than this is marked
const wired = new WeakMap(); // summary element -> the AbortController of its listeners

export function segments(response) {
  const summary = response.summary;
  const unit = codePointIndex(summary);
  if (response.grounding) {
    return response.grounding.sentences.map((sentence) => ({
      start: unit(sentence.offset),
      end: unit(sentence.offset + sentence.length),
      ranges: sentence.support,
      supported: sentence.supported,
      unsupported: sentence.unsupported.map((span) => ({
        start: unit(span.offset),
        end: unit(span.offset + span.length),
        kind: span.kind,
      })),
    }));
  }
  if (response.sentences) {
    const out = [];
    let from = 0;
    for (const sentence of response.sentences) {
      const start = summary.indexOf(sentence.text, from);
      if (start < 0) continue; // not written verbatim (should not happen): it cannot be pointed at
      out.push({ start, end: start + sentence.text.length, ranges: [sentence], supported: 1, unsupported: [] });
      from = start + sentence.text.length;
    }
    return out;
  }
  return [{ start: 0, end: summary.length, ranges: response.chunks || [], supported: 1, unsupported: [] }];
}

function sentenceElement(summary, segment, index) {
  const span = document.createElement("span");
  span.className = "sent";
  span.tabIndex = 0;
  span.setAttribute("role", "button");
  span.dataset.index = String(index);
  let at = segment.start;
  for (const gap of segment.unsupported) {
    if (gap.start < at) continue;
    span.append(summary.slice(at, gap.start));
    const mark = document.createElement("mark");
    mark.className = "unsupported";
    mark.title = `not found in the source (${gap.kind})`;
    mark.textContent = summary.slice(gap.start, gap.end);
    span.append(mark);
    at = gap.end;
  }
  span.append(summary.slice(at, segment.end));
  if (segment.supported < WEAK) {
    span.classList.add("weak");
    span.title = `weakly supported by the source (${Math.round(segment.supported * 100)}%)`;
  }
  return span;
}

// Renders the summary into `element`; `onSelect(segment, index, scroll)` runs on hover, focus and click.
export function renderSummary(element, response, onSelect) {
  const summary = response.summary;
  const parts = segments(response);
  const nodes = [];
  let at = 0;
  parts.forEach((segment, index) => {
    if (segment.start < at) return;
    if (segment.start > at) nodes.push(document.createTextNode(summary.slice(at, segment.start)));
    nodes.push(sentenceElement(summary, segment, index));
    at = segment.end;
  });
  nodes.push(document.createTextNode(summary.slice(at)));
  element.replaceChildren(...nodes);
  const select = (target, scroll) => {
    const span = target.closest(".sent");
    if (!span || !element.contains(span)) return;
    for (const other of element.querySelectorAll(".sent.active")) {
      other.classList.remove("active");
      other.removeAttribute("aria-pressed");
    }
    span.classList.add("active");
    span.setAttribute("aria-pressed", "true");
    onSelect(parts[Number(span.dataset.index)], Number(span.dataset.index), scroll);
  };
  // One set of listeners at a time: those of the previous summary go.
  if (wired.has(element)) wired.get(element).abort();
  const listening = new AbortController();
  wired.set(element, listening);
  const options = { signal: listening.signal };
  for (const type of ["mouseover", "focusin", "click"]) {
    element.addEventListener(type, (event) => select(event.target, true), options);
  }
  element.addEventListener(
    "keydown",
    (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        select(event.target, true);
      }
    },
    options,
  );
  return parts;
}

export function groundingNote(response) {
  if (response.grounding) {
    const gaps = response.grounding.sentences.reduce((sum, sentence) => sum + sentence.unsupported.length, 0);
    const consistency = Math.round(response.grounding.consistency * 100);
    return `Supported by the source: ${consistency}%.` + (gaps ? ` ${gaps} detail(s) not found in it are marked.` : "");
  }
  if (response.sentences) return "Every sentence is copied from the source.";
  return response.chunks ? "Select a chunk below to see which part of the source it summarizes." : "";
}
