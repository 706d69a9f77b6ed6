"""The pure core: facts in, balances out. No database, no clock, no logging (a ruff rule bans
I/O imports in this folder, and a test checks no I/O module is loaded through it)."""
