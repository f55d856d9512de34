"""Push campaign engine: the domain package shared by every function (deployed as a layer)."""
