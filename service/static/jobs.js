// The jobs view: submit a JSONL/CSV file or several documents, watch progress, download results, cancel.
import { cancelJob, getBlob, getJob, getKey, listJobs, submitJob } from "./api.js";
import { saveBlob } from "./save.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
const jobs = new Map(); // id -> the job as GET /v1/jobs/{id} last answered
let polling = null;

function setStatus(message, isError = false) {
  $("job-status").textContent = message;
  $("job-status").classList.toggle("error", isError);
}

function jobItem(job) {
  const item = document.createElement("li");
  item.className = `job ${job.status}`;
  item.dataset.id = job.id;
  item.dataset.status = job.status;
  const title = document.createElement("p");
  const when = new Date(job.created_at).toLocaleString();
  title.innerHTML = "<strong></strong> <span></span>";
  title.querySelector("strong").textContent = job.status;
  title.querySelector("span").textContent = `${job.model} · ${when} · ${job.id}`;
  const bar = document.createElement("progress");
  bar.max = Math.max(job.progress.total, 1);
  bar.value = job.progress.done;
  bar.id = `job-progress-${job.id}`;
  const label = document.createElement("label");
  label.htmlFor = bar.id;
  const failed = job.progress.failed ? `, ${job.progress.failed} failed` : "";
  label.textContent = `${job.progress.done} of ${job.progress.total} documents${failed}`;
  item.append(title, label, bar);
  const problem = job.error || job.waiting;
  if (problem) {
    const note = document.createElement("p");
    note.className = "error";
    note.textContent = `${problem.message} (${problem.code})`;
    item.append(note);
  }
  item.append(jobActions(job));
  return item;
}

function jobActions(job) {
  const actions = document.createElement("div");
  actions.className = "actions";
  if (job.progress.done > 0 || !ACTIVE.has(job.status)) {
    const link = document.createElement("a");
    link.href = job.results_url.replace(/^\//, "");
    link.download = `${job.id}.jsonl`;
    link.className = "button";
    link.textContent = ACTIVE.has(job.status) ? "Download results so far" : "Download results";
    link.addEventListener("click", (event) => {
      // A plain link cannot carry the key's header: with a key, fetch the results and save them instead.
      if (!getKey()) return;
      event.preventDefault();
      downloadResults(link);
    });
    actions.append(link);
  }
  if (ACTIVE.has(job.status)) {
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        update(await cancelJob(job.id));
        setStatus(`Job ${job.id} cancelled.`);
      } catch (error) {
        setStatus(`Could not cancel: ${error.message}`, true);
      }
    });
    actions.append(cancel);
  }
  return actions;
}

async function downloadResults(link) {
  try {
    saveBlob(link.download, await getBlob(link.getAttribute("href")));
  } catch (error) {
    setStatus(`Could not download the results: ${error.message}`, true);
  }
}

function render() {
  const sorted = [...jobs.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  $("jobs").replaceChildren(...sorted.map(jobItem));
  if (!sorted.length) $("jobs").innerHTML = "<li>No jobs yet.</li>";
}

function update(job) {
  const before = jobs.get(job.id);
  jobs.set(job.id, job);
  if (before && ACTIVE.has(before.status) && !ACTIVE.has(job.status)) setStatus(`Job ${job.id}: ${job.status}.`);
  render();
  schedule();
}

function schedule() {
  if (polling || ![...jobs.values()].some((job) => ACTIVE.has(job.status))) return;
  polling = setTimeout(poll, 1000);
}

async function poll() {
  polling = null;
  const active = [...jobs.values()].filter((job) => ACTIVE.has(job.status));
  for (const job of active) {
    try {
      jobs.set(job.id, await getJob(job.id));
    } catch (error) {
      if (error.status === 404) jobs.delete(job.id); // expired
    }
  }
  for (const job of active) {
    const now = jobs.get(job.id);
    if (now && !ACTIVE.has(now.status)) setStatus(`Job ${now.id}: ${now.status}.`);
  }
  render();
  schedule();
}

async function submit(event) {
  event.preventDefault();
  const files = [...$("job-files").files];
  if (!files.length) {
    setStatus("Choose a JSONL or CSV file, or several documents.", true);
    $("job-files").focus();
    return;
  }
  $("job-submit").disabled = true;
  try {
    const job = await submitJob(files, { model: $("job-model").value, length: $("job-length").value });
    setStatus(`Job ${job.id} started: ${job.progress.total} documents.`);
    $("job-form").reset();
    update(job);
  } catch (error) {
    setStatus(`The job was refused: ${error.message}`, true);
  } finally {
    $("job-submit").disabled = false;
  }
}

// The jobs listed are the key's own: list them again when the key changes.
export async function listJobsAgain() {
  jobs.clear();
  try {
    for (const job of (await listJobs()).jobs) jobs.set(job.id, job);
  } catch {
    // listing is a convenience: jobs submitted here still show
  }
  render();
  schedule();
}

export function startJobs() {
  $("job-form").addEventListener("submit", submit);
  return listJobsAgain();
}
