// Kernel-free knobs (psbook.plots.knobs): draw every <figure class="psbook-knob"> with the
// vendored vega-embed. The figure's JSON holds the Vega-Lite spec (the chapter's precomputed
// states, filtered by the controls' parameters) and the table of states the browser test reads.
(() => {
  const draw = (fig) => {
    const data = fig.querySelector("script.psbook-knob-data");
    const view = fig.querySelector(".psbook-knob-view");
    if (!data || !view || fig.dataset.ready) return;
    let payload;
    try { payload = JSON.parse(data.textContent); } catch (e) {
      console.error("psbook knob: unreadable spec", e); return;
    }
    if (typeof vegaEmbed !== "function") {
      view.textContent = "This interactive figure could not load (vega-embed is missing); " +
          "the static figure beside it shows every state.";
      console.error("psbook knob: vegaEmbed is not loaded");
      return;
    }
    vegaEmbed(view, payload.spec, {renderer: "svg", actions: false, mode: "vega-lite"})
      .then((res) => {
        fig.psbookView = res.view;
        fig.dataset.ready = "1";
        const svg = view.querySelector("svg");
        if (svg) {
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", payload.alt || "interactive figure");
        }
      })
      .catch((e) => { console.error("psbook knob: drawing failed", e); fig.dataset.ready = "error"; });
  };
  const all = () => document.querySelectorAll("figure.psbook-knob").forEach(draw);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
})();
