complete --keep-order --exclusive --command odoo-bus --arguments "(COMPLETE=fish odoo-bus -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
