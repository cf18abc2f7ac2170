# One-off (2026-11-30 17:00 UTC): a blocked sparse MLP kernel in numba against the dense BLAS path.
# Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/results/issue11-floor/sparse_mlp.py
import time, numpy as np, numba
from model import load_classifier
clf = load_classifier()
(w1,b1),(w2,b2),(w3,b3) = clf._layers
imgs = np.concatenate([np.load(f'/work/shared/data/quickdraw/bitmaps/{c}.npz')['images'][:200] for c in ['airplane','cat','The Eiffel Tower','alarm clock']])
rng=np.random.default_rng(0); imgs=imgs[rng.permutation(len(imgs))]

@numba.njit(nogil=True)
def layer(x, w, b, relu_in, out):
    # out[i] = sum_p f(x[i,p]) * w[p] (p ascending, zero terms skipped) + b ; f = relu if relu_in
    n, P = x.shape; H = w.shape[1]
    BL = 8
    for i0 in range(0, n, BL):
        i1 = min(i0 + BL, n)
        for i in range(i0, i1):
            for j in range(H): out[i, j] = 0
        for p in range(P):
            row = w[p]
            for i in range(i0, i1):
                v = np.float32(x[i, p])
                if v > 0:
                    o = out[i]
                    for j in range(H):
                        o[j] += v * row[j]
        for i in range(i0, i1):
            for j in range(H): out[i, j] += b[j]
    return out

def kern(x):
    n=x.shape[0]
    h1=np.empty((n,w1.shape[1]),np.float32); h2=np.empty((n,w2.shape[1]),np.float32); o=np.empty((n,87),np.float32)
    layer(x,w1,b1,False,h1); layer(h1,w2,b2,True,h2); layer(h2,w3,b3,True,o); return o

def ref_numpy(x):
    outs=[]
    for xi in x:
        h=xi.astype(np.float32)
        for (w,b) in clf._layers:
            acc=np.zeros(w.shape[1],np.float32)
            for p in np.flatnonzero(h>0):
                acc += h[p]*w[p]
            h = acc + b
            hr = h
            h = hr.copy()
            # relu applied when used as input: handled by h>0 filter
        outs.append(h)
    return np.array(outs)
x=imgs[:16]
k=kern(x); r=ref_numpy(x)
print('kernel == numpy fixed order bitwise:', np.array_equal(k,r), np.abs(k-r).max())
print('batch independence:', np.array_equal(kern(imgs[:5]), kern(imgs[:16])[:5]))
full=kern(imgs[:128]); d=clf.logits_from_images(imgs[:128]); print('vs dense maxdiff', np.abs(full-d).max())
for B in (1,4,16,32,128):
    x=imgs[:B]
    for name, f in [('dense', lambda: clf.logits_from_images(x)), ('kernel', lambda: kern(x))]:
        ts=[]
        for r in range(7):
            t=time.perf_counter()
            for k in range(max(1,200//B)): f()
            ts.append((time.perf_counter()-t)/max(1,200//B)/B*1e6)
        print(B, name, 'us/img %.1f'%np.median(ts))
