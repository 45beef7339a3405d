"""Everything the bot says, one module per audience: ``user``, ``support``, ``ops``;
``format`` writes times and lists for all of them."""
