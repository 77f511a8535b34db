import * as vscode from 'vscode';

/** Params of the server's `seedCoder/status` notification. */
export interface StatusParams {
  state: 'loading' | 'ready' | 'error' | 'disabled';
  message: string;
  percent?: number;
  lastLatencyMs?: number;
}

/** Status bar item that mirrors the server's `seedCoder/status` notifications. */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem('seedCoder.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Seed-Coder';
    this.update({ state: 'loading', message: 'Starting the Seed-Coder language server' });
    this.item.show();
  }

  update(params: StatusParams): void {
    const { state, message, percent, lastLatencyMs } = params;
    let text: string;
    switch (state) {
      case 'loading':
        text = '$(sync~spin) Seed-Coder' + (typeof percent === 'number' ? ` ${Math.round(percent)}%` : '');
        break;
      case 'ready':
        text = '$(check) Seed-Coder' + (typeof lastLatencyMs === 'number' ? ` ${Math.round(lastLatencyMs)} ms` : '');
        break;
      case 'error':
        text = '$(error) Seed-Coder';
        break;
      case 'disabled':
        text = '$(circle-slash) Seed-Coder';
        break;
      default:
        text = '$(question) Seed-Coder';
    }
    this.item.text = text;
    this.item.tooltip = message || `Seed-Coder: ${state}`;
    this.item.command = state === 'error' ? 'seedCoder.showLog' : 'seedCoder.toggle';
    this.item.backgroundColor =
      state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
