"""Test helpers every app's tests reuse: a two-tenant world, factories and contracts."""
