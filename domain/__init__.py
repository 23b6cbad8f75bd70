"""Plain domain logic: no Flask, no database. Tested directly."""
