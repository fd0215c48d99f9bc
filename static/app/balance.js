// The credit balance and plan shown in the sidebar and the account pages' header, kept
// current from GET /v1/user/status after anything that spends or buys credit.

import { api } from "./api.js";
import { credit } from "./format.js";

function planNameOf(slug, plans) {
  const plan = (plans || []).find((p) => p.id === slug);
  return plan ? plan.name : slug.charAt(0).toUpperCase() + slug.slice(1);
}

export function showBalance({ balance, planName }) {
  for (const link of document.querySelectorAll("[data-balance]")) {
    link.querySelector("[data-balance-amount]").textContent = credit(balance);
    link.querySelector("[data-plan-name]").textContent = planName;
    link.title = `Credit ${balance} USD on the ${planName} plan: buy credits or change plan`;
  }
}

// The caller's status (plan, credits, this month), after showing its balance; null when it
// could not be read (the page keeps what it showed).
export async function refreshBalance({ plans } = {}) {
  let status;
  try {
    status = await api("/v1/user/status");
  } catch {
    return null;
  }
  showBalance({ balance: status.credits.balance, planName: planNameOf(status.plan.slug, plans) });
  return status;
}
