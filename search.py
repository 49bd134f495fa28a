"""Search the best student under a latency budget: ``python search.py latency_budget=cpu_7x`` (see README)."""

import hydra
from omegaconf import DictConfig

from kdnas.pipelines.common import clean_exit
from kdnas.pipelines.schemas import register_configs
from kdnas.pipelines.search import search


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
@clean_exit
def main(cfg: DictConfig) -> None:
    search(cfg)


if __name__ == "__main__":
    register_configs()  # the structured-config schemas conf/ refers to
    main()
