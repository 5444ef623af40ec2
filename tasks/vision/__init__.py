"""Vision workloads: CIFAR/ImageNet data modules, the papers' models, the tensor data path (see README.md)."""
