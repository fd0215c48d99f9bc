// The plan and billing page: buying credits and changing plan go to Stripe Checkout (POST
// /v1/billing/checkout answers the URL to send the browser to), "Manage billing" to the
// Customer Portal (POST /v1/billing/portal); "Refresh from Stripe" pulls the subscription and
// invoices (POST /v1/billing/sync), as does coming back from a paid checkout; the invoices
// come from GET /v1/billing/invoices. Whatever the API refuses is said next to the button.

import { api } from "./api.js";
import { refreshBalance, showBalance } from "./balance.js";
import { credit, date, money } from "./format.js";
import { toaster } from "./notices.js";

const state = JSON.parse(document.getElementById("chuk-state").textContent);
const toast = toaster(document.getElementById("toast"));
const returned = document.getElementById("billing-return");
const plansBox = document.getElementById("plans");
const invoicesBody = document.getElementById("invoices");
const invoicesNote = document.getElementById("invoices-note");
const syncButton = document.getElementById("sync");

let currentPlan = state.account.plan;

function say(element, text, kind = "") {
  element.textContent = text;
  element.className = `${element.className.split(" ")[0]} ${kind}`.trim();
  element.hidden = !text;
}

function planName(slug) {
  const plan = state.plans.find((p) => p.id === slug);
  return plan ? plan.name : slug.charAt(0).toUpperCase() + slug.slice(1);
}

function showAccount({ plan, balance, held }) {
  currentPlan = plan;
  const name = planName(plan);
  document.querySelector('[data-account="planName"]').textContent = name;
  document.querySelector('[data-account="balance"]').textContent = credit(balance);
  document.querySelector('[data-account="held"]').textContent = credit(held);
  showBalance({ balance, planName: name });
  renderPlans();
}

async function refreshAccount() {
  const status = await refreshBalance({ plans: state.plans });
  if (status) showAccount({ plan: status.plan.slug, balance: status.credits.balance, held: status.credits.held });
}

// Sends the browser to the URL a billing endpoint answers; says why not when it refuses.
async function goTo(path, body, statusElement, button) {
  button.disabled = true;
  say(statusElement, "Opening Stripe…");
  try {
    const { url } = await api(path, { method: "POST", body });
    location.assign(url);
  } catch (error) {
    let text = error.message;
    if (error.code === "already_subscribed") text += " Use “Manage billing” below to switch or cancel.";
    say(statusElement, text, "error");
    button.disabled = false;
  }
}

// --- Buy credits ----------------------------------------------------------------------------

const topup = document.getElementById("topup-form");
const topupStatus = document.getElementById("topup-status");
for (const preset of topup.querySelectorAll("[data-amount]")) {
  preset.addEventListener("click", () => {
    topup.elements.topup_usd.value = preset.dataset.amount;
    topup.elements.topup_usd.focus();
  });
}
topup.addEventListener("submit", (event) => {
  event.preventDefault();
  const amount = topup.elements.topup_usd.value.trim();
  if (!amount) {
    say(topupStatus, `Enter an amount from ${money(state.topup.min)} to ${money(state.topup.max)}.`, "error");
    return;
  }
  goTo("/v1/billing/checkout", { topup_usd: amount }, topupStatus, topup.querySelector('[type="submit"]'));
});

// --- Plans ----------------------------------------------------------------------------------

const planStatus = document.getElementById("plan-status");

function renderPlans() {
  plansBox.replaceChildren(
    ...state.plans.map((plan) => {
      const card = document.createElement("article");
      card.className = "plan-card";
      card.dataset.plan = plan.id;
      const isCurrent = plan.id === currentPlan;
      if (isCurrent) card.classList.add("current");
      const title = document.createElement("h3");
      title.textContent = plan.name;
      if (isCurrent) {
        const badge = document.createElement("span");
        badge.className = "badge badge-current";
        badge.textContent = "Your plan";
        title.append(badge);
      }
      const price = document.createElement("p");
      price.className = "plan-price";
      price.textContent = `${money(plan.monthly_price)} a month`;
      const perks = document.createElement("ul");
      perks.className = "plan-perks";
      const perk = (text) => {
        const item = document.createElement("li");
        item.textContent = text;
        perks.append(item);
      };
      perk(Number(plan.monthly_allowance) ? `${money(plan.monthly_allowance)} of credit every month` : "Pay as you go with credits");
      perk(plan.premium_models ? "Premium (pro) models included" : "Standard models");
      card.append(title, price, perks);
      if (!isCurrent && plan.purchasable) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-primary";
        button.textContent = `Switch to ${plan.name}`;
        button.addEventListener("click", () => goTo("/v1/billing/checkout", { plan: plan.id }, planStatus, button));
        card.append(button);
        if (!state.configured) {
          // Payments are not set up: the button is there, disabled, with the reason.
          button.disabled = true;
          const why = document.createElement("p");
          why.className = "plan-why";
          why.id = `plan-why-${plan.id}`;
          why.textContent = "Changing plan needs payments, which are not set up on this site.";
          button.setAttribute("aria-describedby", why.id);
          card.append(why);
        }
      }
      return card;
    }),
  );
}

// --- Portal, sync, invoices -----------------------------------------------------------------

const portal = document.getElementById("portal");
portal.addEventListener("click", () => goTo("/v1/billing/portal", undefined, document.getElementById("portal-status"), portal));

function unixDate(seconds) {
  return seconds ? date(new Date(seconds * 1000).toISOString()) : "";
}

async function loadInvoices() {
  let page;
  try {
    page = await api("/v1/billing/invoices");
  } catch (error) {
    invoicesNote.textContent = error.message;
    invoicesNote.hidden = false;
    return;
  }
  invoicesBody.replaceChildren(
    ...page.data.map((invoice) => {
      const row = document.createElement("tr");
      const cell = (text, className) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (className) td.className = className;
        row.append(td);
        return td;
      };
      cell(unixDate(invoice.created));
      cell(invoice.number || invoice.id);
      cell(invoice.period_start ? `${unixDate(invoice.period_start)} – ${unixDate(invoice.period_end)}` : "");
      cell(`${money(invoice.amount_due)} ${invoice.currency.toUpperCase()}`, "num");
      const status = cell("");
      const badge = document.createElement("span");
      badge.className = `badge badge-status-${invoice.status}`;
      badge.textContent = invoice.status;
      status.append(badge);
      const links = cell("", "row-actions");
      for (const [url, label] of [[invoice.hosted_invoice_url, "View"], [invoice.invoice_pdf, "PDF"]]) {
        if (!url || !/^https?:\/\//.test(url)) continue;
        const link = document.createElement("a");
        link.href = url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.textContent = label;
        links.append(link, document.createTextNode(" "));
      }
      return row;
    }),
  );
  invoicesNote.textContent = page.data.length ? "" : "No invoices yet.";
  invoicesNote.hidden = page.data.length > 0;
}

async function sync({ quiet = false } = {}) {
  syncButton.disabled = true;
  try {
    const result = await api("/v1/billing/sync", { method: "POST" });
    await Promise.all([refreshAccount(), loadInvoices()]);
    if (!quiet) toast(`Up to date with Stripe: you are on the ${planName(result.plan)} plan.`);
    return true;
  } catch (error) {
    toast(error.message);
    return false;
  } finally {
    syncButton.disabled = false;
  }
}
syncButton.addEventListener("click", () => sync());

// --- Coming back from Stripe ----------------------------------------------------------------

async function welcomeBack() {
  const params = new URLSearchParams(location.search);
  const cancelled = params.get("checkout") === "cancelled";
  const paid = params.has("session_id") || params.get("checkout") === "success";
  if (!cancelled && !paid) return;
  history.replaceState(null, "", location.pathname); // a reload does not say it again
  if (cancelled) {
    say(returned, "Checkout was cancelled: nothing was charged.", "notice-warning");
    return;
  }
  say(returned, "Thank you! Your payment went through. Bringing your plan and balance up to date…", "notice-success");
  await sync({ quiet: true });
  say(
    returned,
    "Thank you! Your payment went through. A new plan shows at once; bought credit is added as soon as Stripe confirms the payment, usually within seconds.",
    "notice-success",
  );
  // Stripe confirms a top-up by webhook, moments later: look again for a little while.
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await refreshAccount();
  }
}

renderPlans();
loadInvoices();
welcomeBack();

document.documentElement.dataset.ready = "true";
