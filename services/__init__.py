"""Application services: domain operations that touch the database. No Flask imports."""
