import torch
from torch import nn

from deepclust.nn import build_mlp, conv_autoencoder, mlp_autoencoder


def kinds(module):
    return [type(m).__name__ for m in module.modules() if not isinstance(m, nn.Sequential)]


def test_article_autoencoder_100_20_100():
    net = mlp_autoencoder((100,), latent_dim=20, hidden_dims=(), latent_activation="relu",
                          output_activation="sigmoid")
    assert kinds(net.encoder) == ["Flatten", "Linear", "ReLU"]
    assert kinds(net.decoder)[:2] == ["Linear", "Sigmoid"]
    assert net.encoder[1][0].weight.shape == (20, 100)
    z, x_hat = net(torch.rand(5, 100))
    assert z.shape == (5, 20) and (z >= 0).all()
    assert x_hat.shape == (5, 100) and ((x_hat > 0) & (x_hat < 1)).all()


def test_article_gan_networks():
    generator = build_mlp([100, 200, 400, 800, 100], "relu", "sigmoid")
    discriminator = build_mlp([100, 400, 800, 1], "relu", "sigmoid")
    assert kinds(generator) == ["Linear", "ReLU"] * 3 + ["Linear", "Sigmoid"]
    assert [m.out_features for m in generator if isinstance(m, nn.Linear)] == [200, 400, 800, 100]
    assert kinds(discriminator) == ["Linear", "ReLU"] * 2 + ["Linear", "Sigmoid"]
    assert discriminator(torch.rand(3, 100)).shape == (3, 1)


def test_standard_autoencoder_shapes_and_images():
    net = mlp_autoencoder((28, 28), latent_dim=10)
    widths = [m.out_features for m in net.encoder.modules() if isinstance(m, nn.Linear)]
    assert widths == [500, 500, 2000, 10]
    z, x_hat = net(torch.rand(4, 28, 28))
    assert z.shape == (4, 10) and x_hat.shape == (4, 28, 28)


def test_conv_autoencoder_round_trips_odd_sizes():
    for shape in [(28, 28), (3, 32, 32), (1, 13, 17)]:
        net = conv_autoencoder(shape, latent_dim=6, channels=(4, 8))
        z, x_hat = net(torch.rand(2, *shape))
        assert z.shape == (2, 6)
        assert x_hat.shape == (2, *shape)
