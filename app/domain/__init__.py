"""Pure rules: no I/O, no framework imports, nothing from the rest of `app`."""
