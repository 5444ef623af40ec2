"""COCO-2017 person segmentation (RAME Fig. 3): data, FPN model, BCE + Dice loss, foreground IoU."""
