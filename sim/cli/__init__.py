"""Click commands of the simulation side: `kks registry`, `kks bench`, `kks sim`."""
