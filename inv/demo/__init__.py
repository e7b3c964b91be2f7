"""`inv demo`: the whole loop offline on real photos (images, players, vocabulary, orchestration)."""
