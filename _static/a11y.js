// Accessible names for the sidebar's expand/collapse toggles. pydata-sphinx-theme renders them
// as <summary> elements holding only an icon, which screen readers announce as nothing (axe:
// "summary-name", serious). Each gets a label naming the entry it opens. Jupyter Book adds every
// .js file in _static/ to every page; .ci/browser_check.py's axe audit checks the result.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("details > summary").forEach((summary) => {
    if (summary.textContent.trim() || summary.getAttribute("aria-label")) return;
    const item = summary.closest("li");
    const link = item && item.querySelector(":scope > a");
    const name = link ? link.textContent.trim() : "this section";
    summary.setAttribute("aria-label", `Show or hide the pages of ${name}`);
  });
});

// The bibliography (sphinxcontrib-bibtex on docutils 0.21) is a role="list" whose entries carry
// role="doc-biblioentry", which axe reports as a list without list items (aria-required-children,
// critical). Each entry becomes a list item; its citation label and text are unchanged.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll('.citation-list[role="list"] > [role="doc-biblioentry"]')
    .forEach((entry) => entry.setAttribute("role", "listitem"));
});
