import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
} from 'vscode-languageclient/node';
import { NextEdits } from './nextEdit';
import { resolveServerCommand } from './serverCommand';
import { StatusBar, StatusParams } from './status';

const SECTION = 'seedCoder';
/** Settings only the client reads (how to start the server). */
const CLIENT_ONLY = ['serverCommand', 'pythonPath'];
let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Seed-Coder', { log: true });
  const status = new StatusBar();
  const nextEdits = new NextEdits(() => client);
  context.subscriptions.push(output, status, nextEdits);

  context.subscriptions.push(
    vscode.commands.registerCommand('seedCoder.showLog', () => output.show(true)),
    vscode.commands.registerCommand('seedCoder.toggle', async () => {
      const config = vscode.workspace.getConfiguration(SECTION);
      await config.update('enable', !config.get<boolean>('enable', true), vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('seedCoder.toggleNextEdits', async () => {
      const config = vscode.workspace.getConfiguration(SECTION);
      await config.update('nextEdit', !config.get<boolean>('nextEdit', true), vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('seedCoder.restartServer', async () => {
      if (client) {
        status.update({ state: 'loading', message: 'Restarting the Seed-Coder language server' });
        await client.restart();
      }
    }),
    vscode.commands.registerCommand('seedCoder.downloadModel', async (model?: string) => {
      const name = model ?? vscode.workspace.getConfiguration(SECTION).get<string>('model');
      await client?.sendRequest(ExecuteCommandRequest.type, {
        command: 'seedCoder.server.downloadModel',
        arguments: name ? [name] : [],
      });
    }),
  );

  const config = vscode.workspace.getConfiguration(SECTION);
  let server;
  try {
    server = resolveServerCommand(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    output.error(message);
    status.update({ state: 'error', message });
    return;
  }
  output.info(`Starting server: ${[server.command, ...server.args].join(' ')}`);

  const languageClient: LanguageClient = new LanguageClient(
    'seedCoder',
    'Seed-Coder',
    { command: server.command, args: server.args },
    {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      initializationOptions: serverSettings(config),
      synchronize: { configurationSection: SECTION },
      outputChannel: output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: {
        workspace: {
          // Push the section without the client-only keys (the server would warn about them).
          didChangeConfiguration: () =>
            languageClient.sendNotification(DidChangeConfigurationNotification.type, {
              settings: { [SECTION]: serverSettings(vscode.workspace.getConfiguration(SECTION)) },
            }),
        },
      },
    },
  );
  client = languageClient;
  client.onNotification('seedCoder/status', (params: StatusParams) => status.update(params));
  try {
    await client.start();
  } catch (err) {
    const message = `Seed-Coder server failed to start: ${err instanceof Error ? err.message : String(err)}`;
    output.error(message);
    status.update({ state: 'error', message });
  }
}

/** The `seedCoder` section as plain JSON, without the client-only keys. */
function serverSettings(config: vscode.WorkspaceConfiguration): Record<string, unknown> {
  const settings = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  for (const key of CLIENT_ONLY) {
    delete settings[key];
  }
  return settings;
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
