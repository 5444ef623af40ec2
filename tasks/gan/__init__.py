"""SN-GAN on CIFAR-10 scored by FID (AdaMomentum Table 2).

``models`` (ResNet generator / spectrally normalised projection discriminator of
PyTorch-StudioGAN's SNGAN), ``losses`` (hinge), ``fid`` (torchmetrics FID, local Inception
weights, cached real statistics), ``data`` (CIFAR-10 real-image stream indexed by step),
``module`` (manual optimization with ``n_dis`` D steps per G step), ``perf`` (runner vs plain loop).
"""
