"""Read-only views for people: dataset summaries, graph samples, neighbours, title search
and 2-D projections of the embeddings."""
