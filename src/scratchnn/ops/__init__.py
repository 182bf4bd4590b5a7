"""Pure array functions, tested on their own: `scratchnn.ops.im2col` (a convolution's copies,
im2col and its adjoint col2im, with the shapes and views they use).

Import from the module: ``from scratchnn.ops.im2col import im2col, col2im`` (re-exporting the
function here would hide the module of the same name).
"""
