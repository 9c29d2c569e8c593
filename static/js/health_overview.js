// The plant health overview, live: each machine's row takes its score, explanation, RUL and open requests from the
// page socket's health frames (maintenance/consumers.py). Text is set as text.
(function () {
  "use strict";
  const table = document.getElementById("plant-health");
  if (!table) return;
  MillwrightHealth.subscribe((f) => {
    const row = table.querySelector(`tr[data-machine="${Number(f.machine)}"]`);
    if (!row) return;
    const cell = (name) => row.querySelector(`td.${name}`);
    if ("score" in f) {
      const score = cell("score");
      score.textContent = f.score === null && f.model_version === null ? "training" : MillwrightHealth.scoreText(f.score);
      score.classList.toggle("high", f.score !== null && f.score >= Number(score.dataset.limit));
      cell("why").textContent = f.explanation || "";
      cell("rul").textContent = MillwrightHealth.rulText(f.rul);
    }
    if ("open_requests" in f) {
      const open = cell("open");
      open.textContent = "";
      if (f.open_requests) {
        const link = document.createElement("a");
        link.href = "/maintenance/requests/?status=open";
        link.textContent = String(f.open_requests);
        open.appendChild(link);
      } else {
        open.textContent = "0";
      }
      if (f.model_version === null && !("score" in f)) cell("score").textContent = "training";
    }
  });
})();
