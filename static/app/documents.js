// Documents as context for a message: a PDF, Word, Excel, PowerPoint, HTML or CSV file is
// converted to Markdown by a media job (POST /v1/media/convert), and travels in the message
// as a text part that names it, <document name="...">Markdown</document>. Those parts are
// found again in stored messages and shown as chips, not as text.

import { jobResult, submitJob, watchJob } from "./jobs.js";

export const DOCUMENT_ACCEPT = [
  ".pdf", ".docx", ".xlsx", ".pptx", ".html", ".htm", ".csv",
  "application/pdf",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "text/html", "text/csv",
].join(",");

const PART = /^<document name="([^"\n]*)">\n([\s\S]*)\n<\/document>$/;

function cleanName(name) {
  return String(name || "document").replace(/["\n\r<>]/g, "").slice(0, 200) || "document";
}

export function documentPart({ name, markdown }) {
  return { type: "text", text: `<document name="${cleanName(name)}">\n${markdown}\n</document>` };
}

export function isDocumentPart(part) {
  return part && part.type === "text" && typeof part.text === "string" && PART.test(part.text);
}

export function documentsOf(content) {
  if (typeof content === "string") return [];
  return (content || []).filter(isDocumentPart).map((part) => {
    const [, name, markdown] = part.text.match(PART);
    return { name, markdown };
  });
}

// The document's Markdown; `onProgress` hears the job's progress (0-100) as it is pushed.
export async function convertDocument({ file, socket, onProgress }) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("target", "markdown");
  const submitted = await submitJob("/v1/media/convert", { form });
  const job = await watchJob({ socket, job: submitted, onUpdate: (current) => onProgress(current.progress) });
  const result = await jobResult(job);
  return { markdown: result.text || "", cost: job.cost };
}
