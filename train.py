"""Distil one student on the full training split: ``python train.py arch=small`` (see README)."""

import hydra
from omegaconf import DictConfig

from kdnas.pipelines.common import clean_exit
from kdnas.pipelines.schemas import register_configs
from kdnas.pipelines.train import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@clean_exit
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    register_configs()  # the structured-config schemas conf/ refers to
    main()
