-- Starting the server and tracking its `seedCoder/status` notifications.
--   Neovim 0.11+: vim.lsp.config('seed_coder', {...}) + vim.lsp.enable('seed_coder')
--   Neovim 0.10:  vim.lsp.start() from a FileType autocommand
local M = {}

M.name = 'seed_coder'

--- Last `seedCoder/status` params ({ state, message, percent?, lastLatencyMs? }), or nil.
---@type table|nil
M.status = nil
--- vim.uv.now() when M.status arrived.
M.status_time = nil

local function on_status(_, result, ctx)
  if type(result) ~= 'table' then
    return
  end
  local was_ready = M.status and M.status.state == 'ready'
  M.status = result
  M.status_client_id = ctx and ctx.client_id
  M.status_time = vim.uv.now()
  if result.state == 'ready' and not was_ready then
    -- requests made while the model was loading got empty answers: ask again
    vim.schedule(function()
      local sc = package.loaded['seed_coder']
      if sc and not sc.uses_builtin() then
        require('seed_coder.inline').on_ready()
      end
    end)
  end
  -- Let statuslines etc. react: autocmd User SeedCoderStatus
  pcall(vim.api.nvim_exec_autocmds, 'User', {
    pattern = 'SeedCoderStatus',
    modeline = false,
    data = result,
  })
end

--- The client of the current (or given) buffer, or nil.
---@param bufnr? integer
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ bufnr = bufnr or 0, name = M.name })
  return clients[1]
end

---@param cfg seed_coder.Config
---@return table lsp client config
function M.client_config(cfg)
  return {
    name = M.name,
    cmd = cfg.cmd,
    filetypes = cfg.filetypes,
    root_markers = cfg.root_markers,
    init_options = vim.deepcopy(cfg.settings),
    -- Declare inline completion (Neovim 0.12 does itself): a client without it gets the
    -- server's textDocument/completion fallback too, which would race the plugin's requests.
    capabilities = vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), {
      textDocument = { inlineCompletion = { dynamicRegistration = false } },
    }),
    -- answered for workspace/configuration (section "seedCoder") and pushed with
    -- workspace/didChangeConfiguration right after initialization
    settings = { seedCoder = vim.deepcopy(cfg.settings) },
    handlers = { ['seedCoder/status'] = on_status },
  }
end

--- client:notify() on 0.11+, client.notify() on 0.10.
function M.notify(client, method, params)
  if vim.fn.has('nvim-0.11') == 1 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- client:request() on 0.11+, client.request() on 0.10: (ok, request id).
function M.request(client, method, params, handler, bufnr)
  if vim.fn.has('nvim-0.11') == 1 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local notify = M.notify

--- Pushes new settings to running clients (setup() called again).
---@param cfg seed_coder.Config
local function push_settings(cfg)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client.settings = { seedCoder = vim.deepcopy(cfg.settings) }
    pcall(notify, client, 'workspace/didChangeConfiguration', { settings = client.settings })
  end
end

--- Buffers worth a server: a real file with a filetype (and one of `filetypes`, if given).
---@param bufnr integer
---@param filetypes string[]|nil
function M.wanted(bufnr, filetypes)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  local ft = vim.bo[bufnr].filetype
  if ft == '' or vim.api.nvim_buf_get_name(bufnr) == '' then
    return false
  end
  return filetypes == nil or vim.tbl_contains(filetypes, ft)
end

local group

---@param cfg seed_coder.Config
function M.setup(cfg)
  local config = M.client_config(cfg)
  push_settings(cfg)
  if vim.lsp.config ~= nil and vim.lsp.enable ~= nil then
    config.name = nil
    local markers = cfg.root_markers
    -- vim.lsp.enable() would also start the server for buffers without a filetype or name
    -- (e.g. the empty startup buffer) when `filetypes` is nil: decide here.
    config.root_dir = function(bufnr, on_dir)
      if M.wanted(bufnr, cfg.filetypes) then
        on_dir(vim.fs.root(bufnr, markers))
      end
    end
    vim.lsp.config(M.name, config)
    vim.lsp.enable(M.name)
    return
  end

  -- Neovim 0.10
  group = vim.api.nvim_create_augroup('seed_coder_start', { clear = true })
  local function start(bufnr)
    if not M.wanted(bufnr, cfg.filetypes) then
      return
    end
    local c = vim.deepcopy(config)
    c.filetypes, c.root_markers = nil, nil
    c.root_dir = vim.fs.root(bufnr, cfg.root_markers)
    vim.lsp.start(c, { bufnr = bufnr })
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    callback = function(args)
      start(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      start(bufnr)
    end
  end
end

return M
