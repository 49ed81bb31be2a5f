"""Installs the mrcnn package: `pip install -e .`"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# requirements.txt is the runtime list (requirements-dev.txt adds test and notebook tools).
requirements = [line.strip() for line in (HERE / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]

setup(
    name="mrcnn",
    version="0.1.0",
    description="Mask R-CNN for Keras 3 / TensorFlow 2 with swappable FCN and U-Net mask heads",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mrcnn", "mrcnn.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    entry_points={"console_scripts": ["mrcnn=mrcnn.cli:main"]},
    license="MIT",
)
