"""Evaluate a student against its teacher: ``python evaluate.py student=DIR`` (see README)."""

import hydra
from omegaconf import DictConfig

from kdnas.pipelines.common import clean_exit
from kdnas.pipelines.evaluate import evaluate
from kdnas.pipelines.schemas import register_configs


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@clean_exit
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    register_configs()
    main()
