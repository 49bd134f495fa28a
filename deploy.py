"""Build a student's deploy bundle: ``python deploy.py student=DIR`` (see README).

Exit status 0 when every fidelity check passed, 1 when one failed, 2 on bad input.
"""

import sys

import hydra
from omegaconf import DictConfig

from kdnas.deploy.bundle import all_passed
from kdnas.pipelines.common import clean_exit
from kdnas.pipelines.deploy import deploy
from kdnas.pipelines.schemas import register_configs


@hydra.main(version_base="1.3", config_path="conf", config_name="deploy")
@clean_exit
def main(cfg: DictConfig) -> None:
    if not all_passed(deploy(cfg)["onnx"]):
        sys.exit(1)


if __name__ == "__main__":
    register_configs()
    main()
