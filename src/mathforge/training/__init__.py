"""Training stages' library: SFT (`sft.py`), the reward model (`reward.py`); RFT, the critique
model and DPO later.

Each trainer module builds its dataset from the pipeline's Parquet tables,
turns a params section into the TRL config, and trains with the real TRL
trainer (CPU demo and GPU profile alike).
"""
