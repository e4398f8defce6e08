  // The helpers both pages' scripts share: shared/src/page.rs puts this file at the top of each
  // page's nonce'd script element, inside its function, whose constants these are.
  const $ = (id) => document.getElementById(id);
  // What the server put in the page for its script (JSON, never run).
  const data = JSON.parse($("twostep-data").textContent);
  const t = data.texts;
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
  const wait = (s) => (s < 60 ? fill(t.seconds, { n: s }) : fill(t.minutes, { n: Math.ceil(s / 60) }));

  // A JSON request to the API: { ok, body }, with the body a problem ({ code, … }) when it fails.
  const post = async (path, body) => {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return { ok: false, body: { code: "network" } };
    }
    let json = {};
    try { json = await response.json(); } catch (e) { json = { code: "other" }; }
    return { ok: response.ok, body: json };
  };

  const busy = (button, on) => {
    if (on) { button.dataset.label = button.textContent; button.textContent = t.working; }
    else if (button.dataset.label) button.textContent = button.dataset.label;
    button.disabled = on;
  };

  // A typed or pasted code keeps its digits; a complete code (`length` digits) is checked at
  // once, by `run`, and once only until it changes.
  const checkWhenComplete = (input, length, run) => {
    input.addEventListener("input", () => {
      const digits = input.value.replace(/\D/g, "");
      if (/[^\d\s-]/.test(input.value)) input.value = digits;
      if (digits.length === length && input.dataset.checked !== digits) {
        input.dataset.checked = digits;
        run();
      }
    });
  };
