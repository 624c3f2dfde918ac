// The browser half of promhub's PromQL editor: CodeMirror 6 with Prometheus' own PromQL
// language support (highlighting, completion from the HTTP API, linting). Bundled into one ES
// module so the console needs no build step and no network at run time.
export { EditorView, keymap, placeholder, drawSelection, highlightActiveLine } from "@codemirror/view";
export { EditorState, Compartment, Prec } from "@codemirror/state";
export { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from "@codemirror/commands";
export { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
export { syntaxHighlighting, HighlightStyle, bracketMatching, indentOnInput } from "@codemirror/language";
export { lintGutter, linter, setDiagnostics, lintKeymap } from "@codemirror/lint";
export { tags } from "@lezer/highlight";
export { PromQLExtension } from "@prometheus-io/codemirror-promql";
