// Ranges of text, as the API gives them (offsets in Unicode code points), and the source pane that shows them.

// JavaScript strings count UTF-16 units: a character outside the BMP (an emoji) is two. The API counts code
// points, so every offset goes through this map; for text without such characters it is the identity.
export function codePointIndex(text) {
  if (!/[\uD800-\uDFFF]/.test(text)) return (offset) => offset;
  const units = [0];
  for (const char of text) units.push(units[units.length - 1] + char.length);
  return (offset) => units[Math.min(Math.max(offset, 0), units.length - 1)];
}

export function pagesLabel(pages) {
  if (!pages || pages.length === 0) return "";
  const first = pages[0];
  const last = pages[pages.length - 1];
  return first === last ? `page ${first}` : `pages ${first}–${last}`;
}

// Overlapping or touching ranges become one, so each character is marked once.
function merged(ranges) {
  const sorted = ranges
    .filter((range) => range.length > 0)
    .map((range) => ({ ...range, end: range.offset + range.length }))
    .sort((a, b) => a.offset - b.offset);
  const out = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && range.offset <= last.end) {
      last.end = Math.max(last.end, range.end);
      last.pages = [...new Set([...(last.pages || []), ...(range.pages || [])])].sort((a, b) => a - b);
    } else {
      out.push({ ...range });
    }
  }
  return out;
}

export class SourcePane {
  constructor(element, where) {
    this.element = element;
    this.where = where;
    this.text = "";
    this.unit = (offset) => offset;
  }

  show(text) {
    this.text = text;
    this.unit = codePointIndex(text);
    this.element.textContent = text;
    this.where.textContent = "";
  }

  // Mark `ranges` ({offset, length, pages?} in code points); `scroll` brings the first into view.
  highlight(ranges, { scroll = false, label = "" } = {}) {
    const parts = merged(ranges);
    const nodes = [];
    let at = 0;
    for (const part of parts) {
      const start = this.unit(part.offset);
      const end = this.unit(part.end);
      if (start > at) nodes.push(document.createTextNode(this.text.slice(at, start)));
      const mark = document.createElement("mark");
      mark.className = "hl";
      mark.dataset.offset = String(part.offset);
      mark.dataset.length = String(part.end - part.offset);
      if (part.pages && part.pages.length) mark.title = pagesLabel(part.pages);
      mark.textContent = this.text.slice(start, end);
      nodes.push(mark);
      at = Math.max(at, end);
    }
    nodes.push(document.createTextNode(this.text.slice(at)));
    this.element.replaceChildren(...nodes);
    const pages = [...new Set(parts.flatMap((part) => part.pages || []))].sort((a, b) => a - b);
    const count = parts.length === 1 ? "1 passage" : `${parts.length} passages`;
    this.where.textContent = parts.length
      ? [label, count, pagesLabel(pages)].filter(Boolean).join(" · ")
      : `${label ? label + " · " : ""}no source passage found`;
    if (scroll && parts.length) this.scrollTo(this.element.querySelector("mark.hl"));
  }

  clear() {
    this.element.textContent = this.text;
    this.where.textContent = "";
  }

  // Scrolls the pane only, not the page: on a narrow screen the summary stays where the reader is.
  scrollTo(mark) {
    const pane = this.element;
    const top = mark.getBoundingClientRect().top - pane.getBoundingClientRect().top + pane.scrollTop;
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    pane.scrollTo({ top: Math.max(0, top - pane.clientHeight / 3), behavior: still ? "auto" : "smooth" });
  }
}
