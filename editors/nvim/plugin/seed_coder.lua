-- User commands only; nothing starts until require('seed_coder').setup() is called.
if vim.g.loaded_seed_coder then
  return
end
vim.g.loaded_seed_coder = true

local function cmd(name, fn, desc)
  vim.api.nvim_create_user_command(name, function()
    require('seed_coder')[fn]()
  end, { desc = desc })
end

cmd('SeedCoderEnable', 'enable', 'seed_coder: show suggestions')
cmd('SeedCoderDisable', 'disable', 'seed_coder: stop showing suggestions')
cmd('SeedCoderToggle', 'toggle', 'seed_coder: toggle suggestions')
cmd('SeedCoderStatus', 'status', 'seed_coder: show the server and model state')
cmd('SeedCoderNextEdit', 'next_edit', 'seed_coder: ask for the next edit at the cursor now')
vim.api.nvim_create_user_command('SeedCoderDownload', function(o)
  require('seed_coder').download(o.args)
end, { nargs = '?', desc = 'seed_coder: download the configured (or named) model (never unasked)' })
