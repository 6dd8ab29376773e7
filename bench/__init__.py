"""The benchmark suite: the collector's cost, the viewer's speed, flat cost as history grows."""
