// The PromQL editor of an explore panel: CodeMirror 6 with codemirror-promql (highlighting,
// completion of functions, metric names, label names and values from promhub's API, and its
// client-side linter), plus the server's parse errors marked at their position.
import {
  EditorState,
  EditorView,
  HighlightStyle,
  Prec,
  PromQLExtension,
  autocompletion,
  bracketMatching,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  defaultKeymap,
  history,
  historyKeymap,
  keymap,
  linter,
  placeholder,
  setDiagnostics,
  syntaxHighlighting,
  tags as t,
} from "../../vendor/editor.js";

// Colours come from CSS variables (pages/explore.css) so one style serves light and dark.
const highlight = HighlightStyle.define([
  { tag: t.function(t.variableName), color: "var(--hl-function)" },
  { tag: [t.operatorKeyword, t.keyword], color: "var(--hl-keyword)", fontWeight: "600" },
  { tag: t.modifier, color: "var(--hl-modifier)" },
  { tag: t.labelName, color: "var(--hl-label)" },
  { tag: t.string, color: "var(--hl-string)" },
  { tag: t.number, color: "var(--hl-number)" },
  { tag: t.comment, color: "var(--fg-muted)", fontStyle: "italic" },
  { tag: [t.operator, t.compareOperator, t.arithmeticOperator, t.logicOperator], color: "var(--hl-operator)" },
  { tag: t.variableName, color: "var(--fg)" },
  { tag: t.invalid, color: "var(--crit)" },
]);

const theme = EditorView.theme({
  "&": { background: "var(--bg-panel)", color: "var(--fg)", fontSize: "13px" },
  "&.cm-focused": { outline: "2px solid var(--link)", outlineOffset: "-1px" },
  ".cm-content": { fontFamily: "var(--mono)", caretColor: "var(--fg)", padding: "6px 0" },
  ".cm-cursor": { borderLeftColor: "var(--fg)" },
  ".cm-placeholder": { color: "var(--fg-muted)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": {
    background: "color-mix(in srgb, var(--link) 25%, transparent)",
  },
  ".cm-matchingBracket": { background: "color-mix(in srgb, var(--ok) 25%, transparent)", color: "inherit" },
  ".cm-tooltip": { background: "var(--bg-panel)", color: "var(--fg)", border: "1px solid var(--border)" },
  ".cm-completionDetail": { color: "var(--fg-muted)" },
  ".cm-completionInfo": { maxWidth: "min(400px, 80vw)" },
  ".cm-diagnostic-error": { borderLeftColor: "var(--crit)" },
});

/**
 * One editor. opts: { doc, onRun () → run every panel, onChange(text) }.
 * Returns { view, text(), setServerError(message|null, position|null), destroy() }.
 */
export function createEditor(parent, { doc = "", onRun, onChange }) {
  // The server's parse error as a diagnostic, valid while the text is what was queried.
  let serverError = null; // { doc, diagnostic }
  const promql = new PromQLExtension()
    .activateLinter(false) // its linter runs inside ours, merged with the server's error
    .setComplete({
      remote: {
        url: location.origin,
        // A failed look-up only means fewer suggestions; keep the console quiet about it.
        httpErrorHandler: () => {},
        // Suggest what exists lately, not every name ever stored.
        lookbackInterval: 12 * 3600 * 1000,
      },
    });
  const clientLint = promql.getLinter();
  const diagnostics = (view) => {
    const out = [];
    try {
      out.push(...clientLint.promQL()(view));
    } catch {
      // The client linter is a convenience; the server's verdict is what counts.
    }
    if (serverError && serverError.doc === view.state.doc.toString()) out.push(serverError.diagnostic);
    return out;
  };
  const run = () => {
    onRun();
    return true;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        Prec.highest(keymap.of([{ key: "Shift-Enter", run }, { key: "Mod-Enter", run }])),
        history(),
        closeBrackets(),
        bracketMatching(),
        autocompletion({ icons: false }),
        keymap.of([...closeBracketsKeymap, ...completionKeymap, ...defaultKeymap, ...historyKeymap]),
        placeholder("Expression (Shift+Enter or Ctrl+Enter to execute)"),
        promql.asExtension(),
        linter(diagnostics, { delay: 300 }),
        syntaxHighlighting(highlight),
        theme,
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ "aria-label": "PromQL expression" }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged && onChange) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setServerError(message, pos) {
      const doc = view.state.doc.toString();
      if (message && pos) {
        const { from, to } = errorRange(doc, pos.offset);
        serverError = {
          doc,
          diagnostic: { from, to, severity: "error", message, source: "promhub", markClass: "cm-server-error" },
        };
      } else {
        serverError = null;
      }
      view.dispatch(setDiagnostics(view.state, diagnostics(view)));
    },
    focus: () => view.focus(),
    destroy() {
      promql.destroy();
      view.destroy();
    },
  };
}

/** The word (or character) at the error's offset, so the underline is visible even at the end. */
function errorRange(doc, offset) {
  if (doc.length === 0) return { from: 0, to: 0 };
  if (offset >= doc.length) return { from: Math.max(0, doc.length - 1), to: doc.length };
  const word = /[\w:.]/;
  let to = offset + 1;
  if (word.test(doc[offset])) while (to < doc.length && word.test(doc[to])) to++;
  return { from: offset, to };
}
