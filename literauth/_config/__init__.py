"""The three jobs behind `literauth.config`, one module each; nothing here is public.

- `document`: read a file (regular files only, size-capped), parse the TOML, find the
  `[[models]]` tables;
- `fields`: `${VAR}` interpolation and one checker per field, each returning a value or
  the problems that stop it, plus the checks across entries (names, fallbacks);
- `identity`: one credential provider per identity, from a static key or the registry's
  `from_env()`.
"""
