"""Training stages' library: SFT now (`sft.py`); RFT, reward/critique models and DPO later.

Each trainer module builds its dataset from the pipeline's Parquet tables,
turns a params section into the TRL config, and trains with the real TRL
trainer (CPU demo and GPU profile alike).
"""
