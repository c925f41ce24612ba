"""World state: accounts, journal, trie."""
