"""Import EEG recordings from lab formats into the raw contract (`p300.types.RawRecording`).

- `import_recording` / `list_events`: any format MNE reads (EDF/BDF, BrainVision, FIF, EEGLAB),
  events mapped to target/non-target by name (`p300.importers.mne_formats`).
- `import_bci2000`: BCI2000 ``.dat`` (P3Speller): ``StimulusCode`` → ``stim_item``,
  ``StimulusType`` → target, with our own reader (`p300.importers.bci2000_file` says why).
- `import_openvibe_gdf`: OpenViBE P300 speller GDF: row/column codes → ``stim_item``,
  33285/33286 → target/non-target.
- `import_bids`: one recording of a BIDS dataset, through mne-bids.

The last three return an `ImportedRecording`: the recording and text metadata (matrix size,
spelled text, character starts, ...) for the landing Parquet (`p300.importers.imported`).
`p300.importers.speller` reads the matrix back: the cells each group shows and the spelled text.
"""

from p300.importers.bci2000 import import_bci2000
from p300.importers.bci2000_file import read_bci2000
from p300.importers.bids import import_bids
from p300.importers.imported import ImportedRecording
from p300.importers.mne_formats import DEFAULT_EVENT_MAP, import_recording, list_events
from p300.importers.openvibe import import_openvibe_gdf
from p300.importers.speller import group_cells, spelled_text, target_cells

__all__ = [
    "DEFAULT_EVENT_MAP",
    "ImportedRecording",
    "group_cells",
    "import_bci2000",
    "import_bids",
    "import_openvibe_gdf",
    "import_recording",
    "list_events",
    "read_bci2000",
    "spelled_text",
    "target_cells",
]
