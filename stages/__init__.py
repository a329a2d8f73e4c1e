"""One entry point per DVC stage: `python -m stages.<name> ...` (see dvc.yaml).

Python imports this package before any stage module, so the environment every stage runs in
is set here once, before torch, tokenizers, datasets or Great Expectations are imported.
"""

import os

for _name, _value in {
    "TOKENIZERS_PARALLELISM": "false",  # tokenizers' threads would fight the sandbox's workers
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # the stages draw their own progress bars
    "GX_ANALYTICS_ENABLED": "False",
    "DVC_NO_ANALYTICS": "1",
}.items():
    os.environ.setdefault(_name, _value)
