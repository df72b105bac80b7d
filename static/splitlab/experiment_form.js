// The experiment form: a condition builder over the targeting JSON, and a live split preview.
// Without JavaScript the JSON field and the plain weights still work; this only helps.
(function () {
  "use strict";
  const form = document.getElementById("experiment-form");
  if (!form) return;

  // --- kind: A/B or interleaving (the creation page draws both kinds' parts) --------------
  const kinds = form.querySelectorAll('input[name="kind"]');
  function showKind() {
    const checked = form.querySelector('input[name="kind"]:checked');
    if (!checked) return;
    for (const part of form.querySelectorAll("[data-kind]")) part.hidden = part.dataset.kind !== checked.value;
  }
  for (const radio of kinds) radio.addEventListener("change", showKind);
  showKind();

  // --- split preview -------------------------------------------------------------------
  const live = document.getElementById("split-live");
  function updateSplit() {
    const rows = [];
    for (let i = 0; ; i++) {
      const key = form.elements["variant_" + i + "_key"];
      if (!key) break;
      const weight = parseFloat(form.elements["variant_" + i + "_weight"].value || "1");
      if (key.value.trim()) rows.push([key.value.trim(), isFinite(weight) && weight > 0 ? weight : 0]);
    }
    const total = rows.reduce((sum, r) => sum + r[1], 0);
    live.textContent = total > 0
      ? "Split of entering users: " + rows.map((r) => r[0] + " " + (100 * r[1] / total).toFixed(1) + "%").join(" · ")
      : "Give at least one variant a positive weight.";
  }
  if (live) {  // interleaving experiments have no split
    form.addEventListener("input", (event) => {
      if (/^variant_/.test(event.target.name || "")) updateSplit();
    });
    updateSplit();
  }

  // --- targeting builder ---------------------------------------------------------------
  const json = form.elements["targeting"];
  const builder = document.getElementById("targeting-builder");
  const body = document.getElementById("condition-rows");
  const OPERATORS = { $eq: "is", $ne: "is not", $in: "is one of", $nin: "is none of" };
  let parsed;
  try { parsed = json.value.trim() ? JSON.parse(json.value) : {}; } catch (e) { return; }
  if (typeof parsed !== "object" || Array.isArray(parsed) || parsed === null) return;

  function addRow(attribute, operator, value) {
    const tr = document.createElement("tr");
    const n = body.children.length + 1;
    const select = Object.entries(OPERATORS).map(([op, text]) =>
      `<option value="${op}"${op === operator ? " selected" : ""}>${text}</option>`).join("");
    tr.innerHTML = `<td><input aria-label="Attribute of condition ${n}" class="c-attr"></td>
      <td><select aria-label="Operator of condition ${n}" class="c-op">${select}</select></td>
      <td><input aria-label="Value of condition ${n}" class="c-value"></td>
      <td><button type="button" class="button c-remove" aria-label="Remove condition ${n}">Remove</button></td>`;
    tr.querySelector(".c-attr").value = attribute || "";
    tr.querySelector(".c-value").value = Array.isArray(value) ? value.join(", ") : (value ?? "");
    body.appendChild(tr);
  }
  function writeJson() {
    const out = {};
    for (const tr of body.children) {
      const attribute = tr.querySelector(".c-attr").value.trim();
      if (!attribute) continue;
      const op = tr.querySelector(".c-op").value;
      const raw = tr.querySelector(".c-value").value;
      const value = op === "$in" || op === "$nin"
        ? raw.split(",").map((v) => v.trim()).filter(Boolean) : raw.trim();
      out[attribute] = Object.assign(out[attribute] || {}, { [op]: value });
    }
    json.value = Object.keys(out).length ? JSON.stringify(out) : "";
  }
  for (const [attribute, condition] of Object.entries(parsed)) {
    if (condition && typeof condition === "object" && !Array.isArray(condition)) {
      for (const [op, value] of Object.entries(condition)) addRow(attribute, op, value);
    } else if (Array.isArray(condition)) {
      addRow(attribute, "$in", condition);
    } else {
      addRow(attribute, "$eq", condition);
    }
  }
  builder.hidden = false;
  document.getElementById("add-condition").addEventListener("click", () => { addRow("", "$eq", ""); });
  body.addEventListener("input", writeJson);
  body.addEventListener("change", writeJson);
  body.addEventListener("click", (event) => {
    if (event.target.classList.contains("c-remove")) { event.target.closest("tr").remove(); writeJson(); }
  });
  json.addEventListener("change", () => { /* the advanced view wins when edited by hand */ });
})();
