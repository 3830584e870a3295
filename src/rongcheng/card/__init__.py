"""The city card and unified payment: a double-entry ledger in fen, cards, payments, bills, clearing."""
