# One training step of MiniLM-L6 on the GPU for sequence lengths that vary, per attention backend (bench/RESULTS.md section 4).
# Run on a GPU machine with the model at .gpu/minilm: python3 bench/gpu_step_shapes.py
import time, torch
from transformers import AutoModelForSequenceClassification as M
from transformers.utils import logging; logging.set_verbosity_error()
def bench(tag, lens):
    m=M.from_pretrained(".gpu/minilm",num_labels=6,attn_implementation="sdpa").cuda(); opt=torch.optim.AdamW(m.parameters()); ts=[]
    for L in lens:
        x=torch.randint(0,1000,(16,L),device="cuda"); mask=torch.ones_like(x); mask[:8,L//2:]=0; torch.cuda.synchronize(); t=time.time()
        out=m(input_ids=x,attention_mask=mask,labels=torch.zeros(16,dtype=torch.long,device="cuda")); out.loss.backward(); opt.step(); opt.zero_grad(); torch.cuda.synchronize(); ts.append(time.time()-t)
    n=len(lens)//2; first, second = sorted(ts[:n]), sorted(ts[n:])
    print(tag, "pass1 median", round(first[n//2],4), "pass2 median", round(second[len(second)//2],4), flush=True)
v=list(range(20,50))*2
bench("default varying", v)
torch.backends.cuda.enable_cudnn_sdp(False); bench("cudnn-off varying", v)
torch.backends.cuda.enable_cudnn_sdp(True); bench("default mult8", [((L+7)//8)*8 for L in v])
torch.backends.cuda.enable_cudnn_sdp(False); torch.backends.cuda.enable_flash_sdp(False); torch.backends.cuda.enable_mem_efficient_sdp(False); bench("math-only varying", v)
torch.backends.cuda.enable_mem_efficient_sdp(True); bench("memeff-only varying", v)
