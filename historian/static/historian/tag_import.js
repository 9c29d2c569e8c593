// Tag CSV import page: polls the job's status and shows its progress; reloads the page when the job has ended.
(function () {
  "use strict";
  const box = document.getElementById("import-progress");
  if (!box) return;
  const bar = box.querySelector("progress");
  const stage = box.querySelector(".import-stage");
  const stages = {checking: "Checking rows", writing: "Writing tags", auditing: "Recording the audit trail"};

  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, {credentials: "same-origin"});
      if (!response.ok) throw new Error(response.statusText);
      const status = await response.json();
      if (status.state !== "queued" && status.state !== "running") {
        window.location.reload();
        return;
      }
      if (status.total > 0) {
        bar.max = status.total;
        bar.value = status.done;
        stage.textContent = `${stages[status.stage] || status.stage}: ${status.done} of ${status.total}`;
      } else {
        bar.removeAttribute("value");
        stage.textContent = status.stage;
      }
    } catch (error) {
      stage.textContent = `Lost contact with the server (${error.message}); retrying…`;
    }
    window.setTimeout(poll, 500);
  }
  poll();
})();
