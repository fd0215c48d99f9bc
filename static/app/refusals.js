// What the web app says when a request is refused, in the product's words (never the API's
// "max_tokens"), and what this deployment lets the person do about it: buy credits or change
// plan when payments are set up, otherwise who to ask (CHUK_SUPPORT_CONTACT). The facts come
// with the page (state.account: canBuy, support, freeAllowance).

import { credit } from "./format.js";

function deployment() {
  const script = document.getElementById("chuk-state");
  const account = script ? JSON.parse(script.textContent).account || {} : {};
  return { canBuy: Boolean(account.canBuy), support: account.support || "", freeAllowance: account.freeAllowance || "0" };
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function link(href, text) {
  const anchor = element("a", "error-action", text);
  anchor.href = href;
  return anchor;
}

// "Ask the operator of this site for credit", with their address when the site names one.
function askOperator(what, support) {
  const nodes = [`Ask the operator of this site for ${what}`];
  const contact = support.trim();
  if (!contact) return [...nodes, "."];
  if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(contact)) nodes.push(": ", link(`mailto:${contact}`, contact), ".");
  else if (/^https?:\/\//.test(contact)) nodes.push(": ", link(contact, contact), ".");
  else nodes.push(": ", contact.replace(/\.$/, ""), ".");
  return nodes;
}

function countdown(retryAfter) {
  const wait = element("span", "retry-after");
  const until = Date.now() + retryAfter * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      wait.textContent = "You can send again now.";
      return;
    }
    wait.textContent = `You can send again in ${left} s.`;
    setTimeout(tick, 1000);
  };
  tick();
  return wait;
}

// The words (strings and nodes, to append in order) for a refusal with this API error code;
// null when the code is not a refusal (the API's own message is then shown).
export function refusal(code, retryAfter = null) {
  const { canBuy, support, freeAllowance } = deployment();
  const renews = Number(freeAllowance) > 0 ? ` Your Free plan's ${credit(freeAllowance)} comes back on the 1st of each month.` : "";
  switch (code) {
    case "insufficient_credits":
      return canBuy
        ? [`Your credit has run out for this request.${renews} `, link("/billing#credits", "Buy credits")]
        : [`Your credit has run out for this request.${renews} `, ...askOperator("credit", support)];
    case "key_limit_exceeded":
      return ["This key has reached its monthly spending limit. Raise it on the API keys page."];
    case "model_requires_upgrade":
      return canBuy
        ? ["This model is not on your plan. ", link("/billing", "Upgrade your plan")]
        : ["This model is not on your plan. ", ...askOperator("access to it", support)];
    case "rate_limit_exceeded":
      return [
        "You are sending faster than your plan allows.",
        ...(Number.isFinite(retryAfter) ? [" ", countdown(retryAfter)] : [" Wait a moment and try again."]),
      ];
    default:
      return null;
  }
}

// The refusal as plain text, for a status line or a toast.
export function refusalText(code, message) {
  const words = refusal(code);
  return words ? words.map((part) => (typeof part === "string" ? part : part.textContent)).join("") : message;
}

// An error shown in an element: the refusal's words, or the API's message.
export function showFailure(target, { message, code, retryAfter }) {
  const words = refusal(code, retryAfter);
  target.replaceChildren(...(words || [element("span", "", message)]));
}
