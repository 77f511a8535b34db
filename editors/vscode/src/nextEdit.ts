import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient } from 'vscode-languageclient/node';

/** The server's next edit (`textDocument/copilotInlineEdit`, GitHub Copilot's request). */
interface EditItem {
  text: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  textDocument: { uri: string; version: number };
  command?: { title: string; command: string; arguments?: unknown[] };
  cursor?: { line: number; character: number };
}

const REQUEST = 'textDocument/copilotInlineEdit';
const DID_SHOW = 'textDocument/didShowInlineEdit';
const CONTEXT_KEY = 'seedCoder.nextEditVisible';
const DEBOUNCE_MS = 300;

/**
 * Next edits with stable API only: after a pause in editing the server is asked for the edit
 * the user is likely to make next; it is drawn where it is (replaced text struck through, new
 * text beside it, a hint at the cursor when it is off screen). Tab jumps to it, Tab again
 * applies it (one undo step), Escape dismisses it; a shown inline completion keeps Tab (the
 * keybinding's `when` clause). The behaviour lives in the server; this draws and forwards.
 */
export class NextEdits implements vscode.Disposable {
  private readonly removed = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    textDecoration: 'line-through',
  });
  private readonly added = vscode.window.createTextEditorDecorationType({});
  private readonly hint = vscode.window.createTextEditorDecorationType({});
  private shown: { editor: vscode.TextEditor; item: EditItem; version: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: vscode.CancellationTokenSource | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly client: () => LanguageClient | undefined) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e.document)),
      vscode.window.onDidChangeActiveTextEditor(() => this.clear()),
      vscode.window.onDidChangeTextEditorVisibleRanges((e) => this.shown?.editor === e.textEditor && this.draw()),
      vscode.commands.registerCommand('seedCoder.nextEdit.tab', () => this.tab()),
      vscode.commands.registerCommand('seedCoder.nextEdit.dismiss', () => this.clear()),
      vscode.commands.registerCommand('seedCoder.nextEdit.request', () => this.request()),
    );
  }

  private changed(document: vscode.TextDocument): void {
    if (this.shown && this.shown.editor.document === document && document.version !== this.shown.version) {
      this.clear(); // computed for the text before this change
    }
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document !== document || document.uri.scheme === 'output') {return;}
    this.pending?.cancel();
    if (this.timer) {clearTimeout(this.timer);}
    this.timer = setTimeout(() => void this.request(), DEBOUNCE_MS);
  }

  /** Asks the server for the next edit at the cursor of the active editor. */
  async request(): Promise<void> {
    const client = this.client();
    const editor = vscode.window.activeTextEditor;
    if (!client || !editor || !client.initializeResult?.capabilities.experimental?.nextEdits) {return;}
    this.pending?.cancel();
    const source = new vscode.CancellationTokenSource();
    this.pending = source;
    const document = editor.document;
    const version = document.version;
    const params = {
      textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri), version },
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
      context: { triggerKind: 2 },
    };
    let result: { edits?: EditItem[] } | undefined;
    try {
      result = await client.sendRequest<{ edits?: EditItem[] }>(REQUEST, params, source.token);
    } catch {
      return; // cancelled or failed: the server logs why
    }
    const item = result?.edits?.[0];
    if (!item || source.token.isCancellationRequested || document.version !== version) {return;}
    if (vscode.window.activeTextEditor !== editor) {return;}
    this.shown = { editor, item, version };
    this.draw();
    void vscode.commands.executeCommand('setContext', CONTEXT_KEY, true);
    void client.sendNotification(DID_SHOW, { item });
  }

  private range(item: EditItem): vscode.Range {
    const r = item.range;
    return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
  }

  private draw(): void {
    const shown = this.shown;
    if (!shown) {return;}
    const { editor, item } = shown;
    const range = this.range(item);
    editor.setDecorations(this.removed, range.isEmpty ? [] : [range]);
    const text = item.text.replace(/\n/g, ' ⏎ ');
    editor.setDecorations(this.added, [
      {
        range: new vscode.Range(range.end, range.end),
        renderOptions: {
          after: {
            contentText: text,
            color: new vscode.ThemeColor('editorGhostText.foreground'),
            backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
          },
        },
      },
    ]);
    const visible = editor.visibleRanges.some((v) => v.contains(range.start));
    const cursor = editor.selection.active;
    editor.setDecorations(
      this.hint,
      visible
        ? []
        : [
            {
              range: new vscode.Range(cursor.line, Number.MAX_SAFE_INTEGER, cursor.line, Number.MAX_SAFE_INTEGER),
              renderOptions: {
                after: {
                  contentText: `  ⇥ next edit at line ${range.start.line + 1} (Tab)`,
                  color: new vscode.ThemeColor('editorCodeLens.foreground'),
                },
              },
            },
          ],
    );
  }

  /** Tab: jump to the edit, or apply it when the cursor is there. */
  async tab(): Promise<void> {
    const shown = this.shown;
    if (!shown || shown.editor.document.version !== shown.version) {
      this.clear();
      return;
    }
    const { editor, item } = shown;
    const range = this.range(item);
    const cursor = editor.selection.active;
    if (!range.contains(cursor) && !range.start.isEqual(cursor)) {
      editor.selection = new vscode.Selection(range.start, range.start);
      editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      this.draw();
      return;
    }
    this.clear();
    const applied = await editor.edit((builder) => builder.replace(range, item.text));
    if (!applied) {return;}
    const lines = item.text.split('\n');
    const end = item.cursor
      ? new vscode.Position(item.cursor.line, item.cursor.character)
      : new vscode.Position(
          range.start.line + lines.length - 1,
          (lines.length === 1 ? range.start.character : 0) + lines[lines.length - 1].length,
        );
    editor.selection = new vscode.Selection(end, end);
    const client = this.client();
    if (client && item.command) {
      await client.sendRequest(ExecuteCommandRequest.type, {
        command: item.command.command,
        arguments: item.command.arguments ?? [],
      });
    }
  }

  clear(): void {
    if (this.shown) {
      const { editor } = this.shown;
      editor.setDecorations(this.removed, []);
      editor.setDecorations(this.added, []);
      editor.setDecorations(this.hint, []);
    }
    this.shown = undefined;
    void vscode.commands.executeCommand('setContext', CONTEXT_KEY, false);
  }

  dispose(): void {
    this.clear();
    if (this.timer) {clearTimeout(this.timer);}
    this.pending?.cancel();
    for (const d of this.subscriptions) {d.dispose();}
    this.removed.dispose();
    this.added.dispose();
    this.hint.dispose();
  }
}
