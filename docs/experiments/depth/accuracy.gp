set datafile missing '?'
set title "CIFAR-10, BN everywhere: test accuracy per epoch"
set xlabel "epoch"
set ylabel "test accuracy"
set key bottom right
set grid
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "accuracy.png"
plot "accuracy.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "plain20", "accuracy.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "plain56", "accuracy.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "resnet20", "accuracy.dat" index 3 using 1:2 with linespoints lc 4 pt 7 ps 0.5 lw 2 title "resnet56"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "accuracy.svg"
replot
set output
